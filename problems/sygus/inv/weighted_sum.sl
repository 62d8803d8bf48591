;; i climbs by 2 while j falls by 1 until they cross.
;; split: heldout
;; reference: (define-fun inv-f ((i Int) (j Int)) Bool (= (+ i (* 2 j)) 20))
(set-logic LIA)
(synth-inv inv-f ((i Int) (j Int)))
(define-fun pre-f ((i Int) (j Int)) Bool
  (and (= i 0) (= j 10)))
(define-fun trans-f ((i Int) (j Int) (i! Int) (j! Int)) Bool
  (and (<= i j) (= i! (+ i 2)) (= j! (- j 1))))
(define-fun post-f ((i Int) (j Int)) Bool
  (=> (> i j) (>= i 7)))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
