;; The mean of two integers, rounded down.
;; split: train
;; reference: (define-fun avg ((x Int) (y Int)) Int (div (+ x y) 2))
(set-logic LIA)
(synth-fun avg ((x Int) (y Int)) Int)
(declare-var x Int)
(declare-var y Int)
(constraint (<= (* 2 (avg x y)) (+ x y)))
(constraint (< (+ x y) (+ (* 2 (avg x y)) 2)))
(check-synth)
