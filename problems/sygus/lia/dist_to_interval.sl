;; Distance from x to the interval [2, 8].
;; split: train
;; reference: (define-fun dist ((x Int)) Int (ite (< x 2) (- 2 x) (ite (> x 8) (- x 8) 0)))
(set-logic LIA)
(synth-fun dist ((x Int)) Int)
(declare-var x Int)
(constraint (=> (< x 2) (= (+ (dist x) x) 2)))
(constraint (=> (> x 8) (= (dist x) (- x 8))))
(constraint (=> (and (<= 2 x) (<= x 8)) (= (dist x) 0)))
(check-synth)
