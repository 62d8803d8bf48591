;; Membership in the range [3, 9].
;; split: heldout
;; reference: (define-fun inr ((x Int)) Bool (and (>= x 3) (<= x 9)))
(set-logic LIA)
(synth-fun inr ((x Int)) Bool)
(declare-var x Int)
(constraint (=> (and (>= x 3) (<= x 9)) (inr x)))
(constraint (=> (< x 3) (not (inr x))))
(constraint (=> (> x 9) (not (inr x))))
(check-synth)
