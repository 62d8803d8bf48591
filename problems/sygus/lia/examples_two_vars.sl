;; A linear function of two arguments given by input/output examples.
;; split: heldout
;; reference: (define-fun g ((x Int) (y Int)) Int (+ (* 3 x) (* (- 2) y) 1))
(set-logic LIA)
(synth-fun g ((x Int) (y Int)) Int)
(constraint (= (g 0 0) 1))
(constraint (= (g 1 0) 4))
(constraint (= (g 0 1) (- 1)))
(constraint (= (g 2 3) 1))
(constraint (= (g 5 (- 1)) 18))
(check-synth)
