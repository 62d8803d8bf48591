;; x and y walk towards each other and meet at 50.
;; split: train
;; reference: (define-fun inv-f ((x Int) (y Int)) Bool (and (= (+ x y) 100) (<= x 50)))
(set-logic LIA)
(synth-inv inv-f ((x Int) (y Int)))
(define-fun pre-f ((x Int) (y Int)) Bool
  (and (= x 0) (= y 100)))
(define-fun trans-f ((x Int) (y Int) (x! Int) (y! Int)) Bool
  (and (< x y) (= x! (+ x 1)) (= y! (- y 1))))
(define-fun post-f ((x Int) (y Int)) Bool
  (=> (>= x y) (= x 50)))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
