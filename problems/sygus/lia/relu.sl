;; The positive part of an integer.
;; split: train
;; reference: (define-fun relu ((x Int)) Int (ite (>= x 0) x 0))
(set-logic LIA)
(synth-fun relu ((x Int)) Int)
(declare-var x Int)
(constraint (>= (relu x) 0))
(constraint (>= (relu x) x))
(constraint (or (= (relu x) 0) (= (relu x) x)))
(check-synth)
