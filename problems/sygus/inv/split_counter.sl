;; Each step counts in c and in exactly one of a or b.
;; split: heldout
;; reference: (define-fun inv-f ((a Int) (b Int) (c Int)) Bool (and (= (+ a b) c) (>= a 0) (>= b 0)))
(set-logic LIA)
(synth-inv inv-f ((a Int) (b Int) (c Int)))
(define-fun pre-f ((a Int) (b Int) (c Int)) Bool
  (and (= a 0) (= b 0) (= c 0)))
(define-fun trans-f ((a Int) (b Int) (c Int) (a! Int) (b! Int) (c! Int)) Bool
  (and (= c! (+ c 1)) (or (and (= a! (+ a 1)) (= b! b)) (and (= a! a) (= b! (+ b 1))))))
(define-fun post-f ((a Int) (b Int) (c Int)) Bool
  (=> (= c 0) (= a 0)))
(inv-constraint inv-f pre-f trans-f post-f)
(check-synth)
