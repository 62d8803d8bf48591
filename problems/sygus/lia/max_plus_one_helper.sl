;; One more than the larger argument, specified through a helper for the smaller one.
;; split: train
;; reference: (define-fun f ((x Int) (y Int)) Int (+ (ite (>= x y) x y) 1))
(set-logic LIA)
(define-fun min2 ((a Int) (b Int)) Int (ite (<= a b) a b))
(synth-fun f ((x Int) (y Int)) Int)
(declare-var x Int)
(declare-var y Int)
(constraint (= (+ (f x y) (min2 x y)) (+ x y 1)))
(check-synth)
