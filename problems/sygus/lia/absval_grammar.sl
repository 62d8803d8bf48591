;; Absolute value from negation and a conditional only.
;; split: train
;; reference: (define-fun absg ((x Int)) Int (ite (>= x 0) x (- x)))
(set-logic LIA)
(synth-fun absg ((x Int)) Int
  ((Start Int) (B Bool))
  ((Start Int (x 0 (- Start) (ite B Start Start)))
   (B Bool ((>= Start Start)))))
(declare-var x Int)
(constraint (>= (absg x) 0))
(constraint (>= (absg x) x))
(constraint (or (= (absg x) x) (= (+ (absg x) x) 0)))
(check-synth)
