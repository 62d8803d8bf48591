;; The median of three integers.
;; split: train
;; reference: (define-fun med ((x Int) (y Int) (z Int)) Int (ite (>= x y) (ite (>= y z) y (ite (>= x z) z x)) (ite (>= x z) x (ite (>= y z) z y))))
(set-logic LIA)
(synth-fun med ((x Int) (y Int) (z Int)) Int)
(declare-var x Int)
(declare-var y Int)
(declare-var z Int)
(constraint (or (= (med x y z) x) (= (med x y z) y) (= (med x y z) z)))
(constraint (>= (+ (ite (>= (med x y z) x) 1 0) (ite (>= (med x y z) y) 1 0) (ite (>= (med x y z) z) 1 0)) 2))
(constraint (>= (+ (ite (<= (med x y z) x) 1 0) (ite (<= (med x y z) y) 1 0) (ite (<= (med x y z) z) 1 0)) 2))
(check-synth)
