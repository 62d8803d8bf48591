;; 0 when the arguments are equal, 1 otherwise.
;; split: train
;; reference: (define-fun diff ((x Int) (y Int)) Int (ite (= x y) 0 1))
(set-logic LIA)
(synth-fun diff ((x Int) (y Int)) Int)
(declare-var x Int)
(declare-var y Int)
(constraint (=> (= x y) (= (diff x y) 0)))
(constraint (=> (distinct x y) (= (diff x y) 1)))
(check-synth)
