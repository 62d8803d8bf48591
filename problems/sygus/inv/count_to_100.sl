;; Count from 0 up to 100; on exit x is exactly 100.
;; split: train
;; reference: (define-fun inv-f ((x Int)) Bool (<= x 100))
(set-logic LIA)
(synth-inv inv-f ((x Int)))
(define-fun pre-f ((x Int)) Bool
  (= x 0))
(define-fun trans-f ((x Int) (x! Int)) Bool
  (and (< x 100) (= x! (+ x 1))))
(define-fun post-f ((x Int)) Bool
  (=> (>= x 100) (= x 100)))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
