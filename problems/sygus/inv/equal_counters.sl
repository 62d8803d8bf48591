;; Two counters that step together stay equal.
;; split: train
;; reference: (define-fun inv-f ((x Int) (y Int)) Bool (= x y))
(set-logic LIA)
(synth-inv inv-f ((x Int) (y Int)))
(define-fun pre-f ((x Int) (y Int)) Bool
  (and (= x 0) (= y 0)))
(define-fun trans-f ((x Int) (y Int) (x! Int) (y! Int)) Bool
  (and (= x! (+ x 1)) (= y! (+ y 1))))
(define-fun post-f ((x Int) (y Int)) Bool
  (= x y))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
