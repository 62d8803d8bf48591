;; How many of three integers are positive, specified argument by argument.
;; split: heldout
;; reference: (define-fun npos ((x Int) (y Int) (z Int)) Int (+ (ite (> x 0) 1 0) (ite (> y 0) 1 0) (ite (> z 0) 1 0)))
(set-logic LIA)
(synth-fun npos ((x Int) (y Int) (z Int)) Int)
(declare-var x Int)
(declare-var y Int)
(declare-var z Int)
(constraint (= (npos x y z) (+ (npos x 0 0) (npos 0 y 0) (npos 0 0 z))))
(constraint (= (npos 0 x 0) (npos x 0 0)))
(constraint (= (npos 0 0 x) (npos x 0 0)))
(constraint (=> (> x 0) (= (npos x 0 0) 1)))
(constraint (=> (<= x 0) (= (npos x 0 0) 0)))
(check-synth)
