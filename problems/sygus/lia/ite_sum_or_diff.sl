;; The sum when x is at least y, otherwise the difference y - x.
;; split: train
;; reference: (define-fun f ((x Int) (y Int)) Int (ite (>= x y) (+ x y) (- y x)))
(set-logic LIA)
(synth-fun f ((x Int) (y Int)) Int)
(declare-var x Int)
(declare-var y Int)
(constraint (=> (>= x y) (= (f x y) (+ y x))))
(constraint (=> (< x y) (= (+ (f x y) x) y)))
(check-synth)
