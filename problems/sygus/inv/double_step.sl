;; y grows twice as fast as x, so it never falls behind.
;; split: train
;; reference: (define-fun inv-f ((x Int) (y Int)) Bool (and (= y (* 2 x)) (>= x 0)))
(set-logic LIA)
(synth-inv inv-f ((x Int) (y Int)))
(define-fun pre-f ((x Int) (y Int)) Bool
  (and (= x 0) (= y 0)))
(define-fun trans-f ((x Int) (y Int) (x! Int) (y! Int)) Bool
  (and (= x! (+ x 1)) (= y! (+ y 2))))
(define-fun post-f ((x Int) (y Int)) Bool
  (>= y x))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
