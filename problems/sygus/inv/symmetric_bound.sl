;; Negating x keeps it within [-10, 10].
;; split: train
;; reference: (define-fun inv-f ((x Int)) Bool (and (>= x (- 10)) (<= x 10)))
(set-logic LIA)
(synth-inv inv-f ((x Int)))
(define-fun pre-f ((x Int)) Bool
  (and (>= x (- 10)) (<= x 10)))
(define-fun trans-f ((x Int) (x! Int)) Bool
  (= x! (- x)))
(define-fun post-f ((x Int)) Bool
  (<= x 10))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
