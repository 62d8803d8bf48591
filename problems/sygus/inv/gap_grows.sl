;; x moves twice as fast as y and is ahead once y has moved.
;; split: train
;; reference: (define-fun inv-f ((x Int) (y Int)) Bool (and (= x (* 2 y)) (>= y 0)))
(set-logic LIA)
(synth-inv inv-f ((x Int) (y Int)))
(define-fun pre-f ((x Int) (y Int)) Bool
  (and (= x 0) (= y 0)))
(define-fun trans-f ((x Int) (y Int) (x! Int) (y! Int)) Bool
  (and (= x! (+ x 2)) (= y! (+ y 1))))
(define-fun post-f ((x Int) (y Int)) Bool
  (=> (> y 0) (> x y)))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
