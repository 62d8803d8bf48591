;; One step of the Collatz map.
;; split: heldout
;; reference: (define-fun step ((x Int)) Int (ite (= (mod x 2) 0) (div x 2) (+ (* 3 x) 1)))
(set-logic LIA)
(synth-fun step ((x Int)) Int)
(declare-var x Int)
(constraint (=> (= (mod x 2) 0) (= (* 2 (step x)) x)))
(constraint (=> (= (mod x 2) 1) (= (step x) (+ (* 3 x) 1))))
(check-synth)
