;; Parity, specified inductively: 0 is even and the successor flips it.
;; split: train
;; reference: (define-fun even ((x Int)) Bool (= (mod x 2) 0))
(set-logic LIA)
(synth-fun even ((x Int)) Bool)
(declare-var x Int)
(constraint (even 0))
(constraint (= (even (+ x 1)) (not (even x))))
(check-synth)
