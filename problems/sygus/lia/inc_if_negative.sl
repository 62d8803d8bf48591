;; Move a negative integer one step towards zero; leave the others alone.
;; split: train
;; reference: (define-fun f ((x Int)) Int (ite (< x 0) (+ x 1) x))
(set-logic LIA)
(synth-fun f ((x Int)) Int)
(declare-var x Int)
(constraint (=> (< x 0) (= (f x) (+ x 1))))
(constraint (=> (>= x 0) (= (f x) x)))
(check-synth)
