;; Clamp an integer to the range [0, 10].
;; split: train
;; reference: (define-fun clamp ((x Int)) Int (ite (< x 0) 0 (ite (> x 10) 10 x)))
(set-logic LIA)
(synth-fun clamp ((x Int)) Int)
(declare-var x Int)
(constraint (>= (clamp x) 0))
(constraint (<= (clamp x) 10))
(constraint (=> (and (<= 0 x) (<= x 10)) (= (clamp x) x)))
(constraint (=> (< x 0) (= (clamp x) 0)))
(constraint (=> (> x 10) (= (clamp x) 10)))
(check-synth)
