;; The smallest of three integers.
;; split: heldout
;; reference: (define-fun min3 ((x Int) (y Int) (z Int)) Int (ite (<= x y) (ite (<= x z) x z) (ite (<= y z) y z)))
(set-logic LIA)
(synth-fun min3 ((x Int) (y Int) (z Int)) Int)
(declare-var x Int)
(declare-var y Int)
(declare-var z Int)
(constraint (<= (min3 x y z) x))
(constraint (<= (min3 x y z) y))
(constraint (<= (min3 x y z) z))
(constraint (or (= x (min3 x y z)) (= y (min3 x y z)) (= z (min3 x y z))))
(check-synth)
