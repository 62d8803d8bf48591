;; The largest difference between any two of three integers.
;; split: heldout
;; reference: (define-fun spread ((x Int) (y Int) (z Int)) Int (- (ite (>= x y) (ite (>= x z) x z) (ite (>= y z) y z)) (ite (<= x y) (ite (<= x z) x z) (ite (<= y z) y z))))
(set-logic LIA)
(synth-fun spread ((x Int) (y Int) (z Int)) Int)
(declare-var x Int)
(declare-var y Int)
(declare-var z Int)
(constraint (and (>= (spread x y z) (- x y)) (>= (spread x y z) (- y x))))
(constraint (and (>= (spread x y z) (- x z)) (>= (spread x y z) (- z x))))
(constraint (and (>= (spread x y z) (- y z)) (>= (spread x y z) (- z y))))
(constraint (or (= (spread x y z) (- x y)) (= (spread x y z) (- y x)) (= (spread x y z) (- x z))
                (= (spread x y z) (- z x)) (= (spread x y z) (- y z)) (= (spread x y z) (- z y))))
(check-synth)
