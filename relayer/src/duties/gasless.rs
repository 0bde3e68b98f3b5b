//! Calldata of gasless operations: the escrow's `…BySig` batches and `cooperativeClose`. Pure.

use piecepay_protocol::{
    CompactSignature,
    alloy_sol_types::SolCall,
    bindings::{ChannelEscrow as E, IChannelEscrow as I},
    relayer_api::{Operation, OperationKind},
};

fn sig(signature: &CompactSignature) -> I::CompactSignature {
    I::CompactSignature {
        r: signature.r,
        vs: signature.vs,
    }
}

/// The calldata of one `…BySig` call carrying `operations` in order, all of `kind` (others are left
/// out), or of `cooperativeClose` for the first cooperative close. `None` if nothing of `kind` is given.
pub fn calldata<'a>(
    kind: OperationKind,
    operations: impl IntoIterator<Item = &'a Operation>,
) -> Option<Vec<u8>> {
    let operations: Vec<&Operation> = operations
        .into_iter()
        .filter(|o| o.kind() == kind)
        .collect();
    if operations.is_empty() {
        return None;
    }
    Some(match kind {
        OperationKind::Open => E::openChannelsBySigCall {
            auths: operations
                .iter()
                .filter_map(|o| match o {
                    Operation::Open {
                        payer,
                        message: m,
                        signature,
                    } => Some(I::OpenAuth {
                        payer: *payer,
                        payee: m.payee,
                        salt: m.salt,
                        deposit: m.deposit,
                        fee: m.fee,
                        deadline: m.deadline,
                        sig: sig(signature),
                    }),
                    _ => None,
                })
                .collect(),
        }
        .abi_encode(),
        OperationKind::TopUp => E::topUpsBySigCall {
            auths: operations
                .iter()
                .filter_map(|o| match o {
                    Operation::TopUp {
                        payer,
                        message: m,
                        signature,
                    } => Some(I::TopUpAuth {
                        payer: *payer,
                        payee: m.payee,
                        salt: m.salt,
                        deposit: m.deposit,
                        fee: m.fee,
                        deadline: m.deadline,
                        sig: sig(signature),
                    }),
                    _ => None,
                })
                .collect(),
        }
        .abi_encode(),
        OperationKind::RequestClose => E::requestClosesBySigCall {
            auths: operations
                .iter()
                .filter_map(|o| match o {
                    Operation::RequestClose {
                        payer,
                        message: m,
                        signature,
                    } => Some(I::CloseAuth {
                        payer: *payer,
                        payee: m.payee,
                        salt: m.salt,
                        fee: m.fee,
                        deadline: m.deadline,
                        sig: sig(signature),
                    }),
                    _ => None,
                })
                .collect(),
        }
        .abi_encode(),
        OperationKind::Withdraw => E::withdrawBySigCall {
            auths: operations
                .iter()
                .filter_map(|o| match o {
                    Operation::Withdraw {
                        owner,
                        message: m,
                        signature,
                    } => Some(I::WithdrawAuth {
                        owner: *owner,
                        to: m.to,
                        amount: m.amount,
                        fee: m.fee,
                        nonce: m.nonce,
                        deadline: m.deadline,
                        sig: sig(signature),
                    }),
                    _ => None,
                })
                .collect(),
        }
        .abi_encode(),
        OperationKind::SetSettleFeeCap => E::setSettleFeeCapsBySigCall {
            auths: operations
                .iter()
                .filter_map(|o| match o {
                    Operation::SetSettleFeeCap {
                        payee,
                        message: m,
                        signature,
                    } => Some(I::SettleFeeCapAuth {
                        payee: *payee,
                        bps: m.bps,
                        nonce: m.nonce,
                        deadline: m.deadline,
                        sig: sig(signature),
                    }),
                    _ => None,
                })
                .collect(),
        }
        .abi_encode(),
        OperationKind::CooperativeClose => {
            let Operation::CooperativeClose {
                message: m,
                payer_signature,
                payee_signature,
            } = operations[0]
            else {
                return None;
            };
            E::cooperativeCloseCall {
                auth: I::CooperativeCloseAuth {
                    payer: m.payer,
                    payee: m.payee,
                    salt: m.salt,
                    cumulative: m.cumulative,
                    fee: m.fee,
                    deadline: m.deadline,
                },
                payerSig: sig(payer_signature),
                payeeSig: sig(payee_signature),
            }
            .abi_encode()
        }
    })
}

#[cfg(test)]
mod tests {
    use piecepay_protocol::{
        OpenChannel,
        alloy_primitives::{
            Address, B256,
            aliases::{U40, U96},
        },
    };

    use super::*;

    fn open(salt: u32) -> Operation {
        Operation::Open {
            payer: Address::repeat_byte(1),
            message: OpenChannel {
                payee: Address::repeat_byte(2),
                salt,
                deposit: U96::from(100u64),
                fee: U96::from(1u64),
                deadline: U40::from(10u64),
            },
            signature: CompactSignature::new(B256::repeat_byte(3), B256::repeat_byte(4)),
        }
    }

    #[test]
    fn a_batch_carries_its_kind_in_order() {
        let ops = [open(1), open(2)];
        let data = calldata(OperationKind::Open, &ops).unwrap();
        let call = E::openChannelsBySigCall::abi_decode(&data).unwrap();
        let salts: Vec<u32> = call.auths.iter().map(|a| a.salt).collect();
        assert_eq!(salts, [1, 2]);
        assert_eq!(call.auths[0].sig.r, B256::repeat_byte(3));
        assert_eq!(calldata(OperationKind::TopUp, &ops), None);
    }
}
