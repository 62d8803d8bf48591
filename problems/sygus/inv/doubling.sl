;; Doubling x outgrows the step counter y.
;; split: heldout
;; reference: (define-fun inv-f ((x Int) (y Int)) Bool (and (>= x (+ y 1)) (>= y 0)))
(set-logic LIA)
(synth-inv inv-f ((x Int) (y Int)))
(define-fun pre-f ((x Int) (y Int)) Bool
  (and (= x 1) (= y 0)))
(define-fun trans-f ((x Int) (y Int) (x! Int) (y! Int)) Bool
  (and (< y 10) (= x! (* 2 x)) (= y! (+ y 1))))
(define-fun post-f ((x Int) (y Int)) Bool
  (>= x (+ y 1)))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
