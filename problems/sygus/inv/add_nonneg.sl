;; Adding a fixed non-negative amount keeps x at least 1.
;; split: heldout
;; reference: (define-fun inv-f ((x Int) (y Int)) Bool (and (>= x 1) (>= y 0)))
(set-logic LIA)
(synth-inv inv-f ((x Int) (y Int)))
(define-fun pre-f ((x Int) (y Int)) Bool
  (and (= x 1) (>= y 0)))
(define-fun trans-f ((x Int) (y Int) (x! Int) (y! Int)) Bool
  (and (= x! (+ x y)) (= y! y)))
(define-fun post-f ((x Int) (y Int)) Bool
  (>= x 1))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
