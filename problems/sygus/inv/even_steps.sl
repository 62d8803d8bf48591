;; Steps of 2 from 0 never reach 15.
;; split: train
;; reference: (define-fun inv-f ((x Int)) Bool (= (mod x 2) 0))
(set-logic LIA)
(synth-inv inv-f ((x Int)))
(define-fun pre-f ((x Int)) Bool
  (= x 0))
(define-fun trans-f ((x Int) (x! Int)) Bool
  (= x! (+ x 2)))
(define-fun post-f ((x Int)) Bool
  (not (= x 15)))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
