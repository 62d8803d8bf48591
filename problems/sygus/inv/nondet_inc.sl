;; x always steps, y sometimes does; y never overtakes x.
;; split: train
;; reference: (define-fun inv-f ((x Int) (y Int)) Bool (<= y x))
(set-logic LIA)
(synth-inv inv-f ((x Int) (y Int)))
(define-fun pre-f ((x Int) (y Int)) Bool
  (and (= x 0) (= y 0)))
(define-fun trans-f ((x Int) (y Int) (x! Int) (y! Int)) Bool
  (and (= x! (+ x 1)) (or (= y! y) (= y! (+ y 1)))))
(define-fun post-f ((x Int) (y Int)) Bool
  (=> (> y 0) (> x 0)))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
