;; Add 2 ten times; the sum stays at most 20.
;; split: train
;; reference: (define-fun inv-f ((i Int) (s Int)) Bool (and (= s (* 2 i)) (<= i 10)))
(set-logic LIA)
(synth-inv inv-f ((i Int) (s Int)))
(define-fun pre-f ((i Int) (s Int)) Bool
  (and (= i 0) (= s 0)))
(define-fun trans-f ((i Int) (s Int) (i! Int) (s! Int)) Bool
  (and (< i 10) (= i! (+ i 1)) (= s! (+ s 2))))
(define-fun post-f ((i Int) (s Int)) Bool
  (<= s 20))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
