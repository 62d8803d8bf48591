;; Absolute value.
;; split: train
;; reference: (define-fun absval ((x Int)) Int (ite (>= x 0) x (- x)))
(set-logic LIA)
(synth-fun absval ((x Int)) Int)
(declare-var x Int)
(constraint (>= (absval x) 0))
(constraint (or (= (absval x) x) (= (absval x) (- x))))
(check-synth)
