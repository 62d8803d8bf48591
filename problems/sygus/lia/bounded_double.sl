;; Double x, but never go above 50 or below -50.
;; split: heldout
;; reference: (define-fun f ((x Int)) Int (ite (> x 25) 50 (ite (< x (- 25)) (- 50) (* 2 x))))
(set-logic LIA)
(synth-fun f ((x Int)) Int)
(declare-var x Int)
(constraint (<= (f x) 50))
(constraint (>= (f x) (- 50)))
(constraint (=> (and (<= x 25) (>= x (- 25))) (= (f x) (+ x x))))
(constraint (=> (> x 25) (= (f x) 50)))
(constraint (=> (< x (- 25)) (= (f x) (- 50))))
(check-synth)
