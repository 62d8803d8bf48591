;; The sign of an integer: -1, 0 or 1.
;; split: train
;; reference: (define-fun sign ((x Int)) Int (ite (> x 0) 1 (ite (< x 0) (- 1) 0)))
(set-logic LIA)
(synth-fun sign ((x Int)) Int)
(declare-var x Int)
(constraint (=> (> x 0) (= (sign x) 1)))
(constraint (=> (= x 0) (= (sign x) 0)))
(constraint (=> (< x 0) (= (sign x) (- 1))))
(check-synth)
