;; Divide by 3 and round up.
;; split: heldout
;; reference: (define-fun cdiv3 ((x Int)) Int (div (+ x 2) 3))
(set-logic LIA)
(synth-fun cdiv3 ((x Int)) Int)
(declare-var x Int)
(constraint (>= (* 3 (cdiv3 x)) x))
(constraint (< (* 3 (cdiv3 x)) (+ x 3)))
(check-synth)
