;; A linear function given by input/output examples.
;; split: train
;; reference: (define-fun f ((x Int)) Int (+ (* 2 x) 3))
(set-logic LIA)
(synth-fun f ((x Int)) Int)
(constraint (= (f 0) 3))
(constraint (= (f 1) 5))
(constraint (= (f 4) 11))
(constraint (= (f (- 2)) (- 1)))
(check-synth)
