;; A bit that flips between 0 and 1.
;; split: train
;; reference: (define-fun inv-f ((x Int)) Bool (and (>= x 0) (<= x 1)))
(set-logic LIA)
(synth-inv inv-f ((x Int)))
(define-fun pre-f ((x Int)) Bool
  (= x 0))
(define-fun trans-f ((x Int) (x! Int)) Bool
  (= x! (- 1 x)))
(define-fun post-f ((x Int)) Bool
  (< x 2))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
