;; Three-way comparison: -1, 0 or 1.
;; split: train
;; reference: (define-fun cmp ((x Int) (y Int)) Int (ite (< x y) (- 1) (ite (= x y) 0 1)))
(set-logic LIA)
(synth-fun cmp ((x Int) (y Int)) Int)
(declare-var x Int)
(declare-var y Int)
(constraint (=> (< x y) (= (cmp x y) (- 1))))
(constraint (=> (= x y) (= (cmp x y) 0)))
(constraint (=> (> x y) (= (cmp x y) 1)))
(check-synth)
