;; Distance between two integers.
;; split: heldout
;; reference: (define-fun dist ((x Int) (y Int)) Int (ite (>= x y) (- x y) (- y x)))
(set-logic LIA)
(synth-fun dist ((x Int) (y Int)) Int)
(declare-var x Int)
(declare-var y Int)
(constraint (>= (dist x y) 0))
(constraint (or (= (+ (dist x y) y) x) (= (+ (dist x y) x) y)))
(check-synth)
