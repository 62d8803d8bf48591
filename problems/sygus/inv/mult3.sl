;; Multiply n by 3 through repeated addition.
;; split: train
;; reference: (define-fun inv-f ((i Int) (r Int) (n Int)) Bool (and (= r (* 3 i)) (<= i n)))
(set-logic LIA)
(synth-inv inv-f ((i Int) (r Int) (n Int)))
(define-fun pre-f ((i Int) (r Int) (n Int)) Bool
  (and (= i 0) (= r 0) (>= n 0)))
(define-fun trans-f ((i Int) (r Int) (n Int) (i! Int) (r! Int) (n! Int)) Bool
  (and (< i n) (= i! (+ i 1)) (= r! (+ r 3)) (= n! n)))
(define-fun post-f ((i Int) (r Int) (n Int)) Bool
  (=> (>= i n) (= r (* 3 n))))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
