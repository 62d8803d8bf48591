;; The larger of x and 7.
;; split: train
;; reference: (define-fun f ((x Int)) Int (ite (>= x 7) x 7))
(set-logic LIA)
(synth-fun f ((x Int)) Int)
(declare-var x Int)
(constraint (>= (f x) x))
(constraint (>= (f x) 7))
(constraint (or (= (f x) x) (= (f x) 7)))
(check-synth)
