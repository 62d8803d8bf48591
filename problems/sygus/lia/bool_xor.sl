;; Exclusive or of two Booleans.
;; split: train
;; reference: (define-fun xr ((a Bool) (b Bool)) Bool (not (= a b)))
(set-logic LIA)
(synth-fun xr ((a Bool) (b Bool)) Bool)
(declare-var a Bool)
(declare-var b Bool)
(constraint (=> (= a b) (not (xr a b))))
(constraint (=> (not (= a b)) (xr a b)))
(check-synth)
