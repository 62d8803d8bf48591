;; The position (0, 1 or 2) of a largest of three integers.
;; split: train
;; reference: (define-fun idx ((x Int) (y Int) (z Int)) Int (ite (and (>= x y) (>= x z)) 0 (ite (>= y z) 1 2)))
(set-logic LIA)
(synth-fun idx ((x Int) (y Int) (z Int)) Int)
(declare-var x Int)
(declare-var y Int)
(declare-var z Int)
(constraint (and (>= (idx x y z) 0) (<= (idx x y z) 2)))
(constraint (=> (= (idx x y z) 0) (and (>= x y) (>= x z))))
(constraint (=> (= (idx x y z) 1) (and (>= y x) (>= y z))))
(constraint (=> (= (idx x y z) 2) (and (>= z x) (>= z y))))
(check-synth)
