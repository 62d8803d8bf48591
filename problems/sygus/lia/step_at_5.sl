;; A step function that switches on above 5.
;; split: train
;; reference: (define-fun step ((x Int)) Int (ite (> x 5) 1 0))
(set-logic LIA)
(synth-fun step ((x Int)) Int)
(declare-var x Int)
(constraint (=> (> x 5) (= (step x) 1)))
(constraint (=> (<= x 5) (= (step x) 0)))
(check-synth)
