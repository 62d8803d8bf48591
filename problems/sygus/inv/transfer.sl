;; Move 10 units from x to y one at a time.
;; split: train
;; reference: (define-fun inv-f ((x Int) (y Int)) Bool (and (= (+ x y) 10) (>= x 0)))
(set-logic LIA)
(synth-inv inv-f ((x Int) (y Int)))
(define-fun pre-f ((x Int) (y Int)) Bool
  (and (= x 10) (= y 0)))
(define-fun trans-f ((x Int) (y Int) (x! Int) (y! Int)) Bool
  (and (> x 0) (= x! (- x 1)) (= y! (+ y 1))))
(define-fun post-f ((x Int) (y Int)) Bool
  (=> (<= x 0) (= y 10)))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
