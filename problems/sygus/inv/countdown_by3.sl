;; Count down from 30 in steps of 3; the loop ends exactly at 0.
;; split: train
;; reference: (define-fun inv-f ((x Int)) Bool (and (>= x 0) (= (mod x 3) 0)))
(set-logic LIA)
(synth-inv inv-f ((x Int)))
(define-fun pre-f ((x Int)) Bool
  (= x 30))
(define-fun trans-f ((x Int) (x! Int)) Bool
  (and (> x 0) (= x! (- x 3))))
(define-fun post-f ((x Int)) Bool
  (=> (<= x 0) (= x 0)))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
