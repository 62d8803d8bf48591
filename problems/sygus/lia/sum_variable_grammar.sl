;; The sum of three integers from a grammar of variables and binary addition.
;; split: train
;; reference: (define-fun f ((a Int) (b Int) (c Int)) Int (+ (+ a b) c))
(set-logic LIA)
(synth-fun f ((a Int) (b Int) (c Int)) Int
  ((Start Int))
  ((Start Int ((Variable Int) (+ Start Start)))))
(declare-var a Int)
(declare-var b Int)
(declare-var c Int)
(constraint (= (f a b c) (+ c b a)))
(check-synth)
