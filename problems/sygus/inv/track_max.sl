;; m tracks the maximum of 5 and the counter i.
;; split: heldout
;; reference: (define-fun inv-f ((i Int) (m Int)) Bool (and (<= i 10) (= m (ite (>= i 5) i 5))))
(set-logic LIA)
(synth-inv inv-f ((i Int) (m Int)))
(define-fun pre-f ((i Int) (m Int)) Bool
  (and (= i 0) (= m 5)))
(define-fun trans-f ((i Int) (m Int) (i! Int) (m! Int)) Bool
  (and (< i 10) (= i! (+ i 1)) (= m! (ite (> i! m) i! m))))
(define-fun post-f ((i Int) (m Int)) Bool
  (=> (>= i 10) (= m 10)))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
