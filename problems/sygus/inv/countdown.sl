;; Count down from n to 0; on exit x is exactly 0.
;; split: heldout
;; reference: (define-fun inv-f ((x Int) (n Int)) Bool (>= x 0))
(set-logic LIA)
(synth-inv inv-f ((x Int) (n Int)))
(define-fun pre-f ((x Int) (n Int)) Bool
  (and (>= n 0) (= x n)))
(define-fun trans-f ((x Int) (n Int) (x! Int) (n! Int)) Bool
  (and (> x 0) (= x! (- x 1)) (= n! n)))
(define-fun post-f ((x Int) (n Int)) Bool
  (=> (<= x 0) (= x 0)))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
