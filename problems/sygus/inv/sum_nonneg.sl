;; A running sum of 0, 1, 2, ... never goes negative.
;; split: train
;; reference: (define-fun inv-f ((i Int) (s Int)) Bool (and (>= i 0) (>= s 0)))
(set-logic LIA)
(synth-inv inv-f ((i Int) (s Int)))
(define-fun pre-f ((i Int) (s Int)) Bool
  (and (= i 0) (= s 0)))
(define-fun trans-f ((i Int) (s Int) (i! Int) (s! Int)) Bool
  (and (= s! (+ s i)) (= i! (+ i 1))))
(define-fun post-f ((i Int) (s Int)) Bool
  (>= s 0))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
