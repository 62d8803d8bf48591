;; A linear function from a grammar without multiplication.
;; split: train
;; reference: (define-fun f ((x Int) (y Int)) Int (+ (- (+ x x) y) 1))
(set-logic LIA)
(synth-fun f ((x Int) (y Int)) Int
  ((Start Int))
  ((Start Int (x y 1 (+ Start Start) (- Start Start)))))
(declare-var x Int)
(declare-var y Int)
(constraint (= (+ (f x y) y) (+ (* 2 x) 1)))
(check-synth)
