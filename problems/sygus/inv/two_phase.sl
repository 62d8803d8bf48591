;; y waits until x passes 50, then follows it; both end at 100.
;; split: train
;; reference: (define-fun inv-f ((x Int) (y Int)) Bool (and (<= x 100) (ite (<= x 50) (= y 50) (= y x))))
(set-logic LIA)
(synth-inv inv-f ((x Int) (y Int)))
(define-fun pre-f ((x Int) (y Int)) Bool
  (and (= x 0) (= y 50)))
(define-fun trans-f ((x Int) (y Int) (x! Int) (y! Int)) Bool
  (and (< x 100) (= x! (+ x 1)) (ite (< x 50) (= y! y) (= y! (+ y 1)))))
(define-fun post-f ((x Int) (y Int)) Bool
  (=> (>= x 100) (= y 100)))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
